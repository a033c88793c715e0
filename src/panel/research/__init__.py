"""Backbone studies: statistics, agreement, consistency, evaluation, figures."""
