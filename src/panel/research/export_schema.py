"""The exported dataset's columns: one flat, typed list per config, each with what it means.

One list serves the Parquet schema, the CSV header and the data card, so the three cannot
disagree.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

Format = Literal["parquet", "jsonl", "csv"]
FORMATS: tuple[Format, ...] = ("parquet", "jsonl", "csv")
EXTENSIONS: dict[Format, str] = {"parquet": "parquet", "jsonl": "jsonl", "csv": "csv"}
CONFIGS = ("reviews", "head_to_head", "edits", "audits", "studies")


class Column(NamedTuple):
    name: str
    type: Literal["string", "strings", "int32", "int64", "float64", "bool", "timestamp"]
    """``strings`` is a list of strings: a Parquet list, a JSON array in JSONL and CSV."""
    doc: str


_SLOT = [
    Column("persona", "string", "Persona key (file stem)."),
    Column("persona_name", "string", "Persona display name."),
    Column("model", "string", "Registry model name of the backbone."),
    Column("revision", "string", "Hub revision of the weights, if any."),
    Column("sample", "int32", "Sample index: 0 first, higher for re-draws with their own seed."),
    Column("status", "string", "ok: a validated output; failed: none after every attempt."),
]
_COST = [
    Column("failure", "string", "Why the last attempt failed, if failed."),
    Column("attempts", "int32", "Attempts made (a rejected reply is retried)."),
]
_TAIL = [
    Column("created_at", "timestamp", "When it was generated (UTC)."),
    Column("provenance", "string", "JSON: every input hash, sampling, rubric, library "
           "versions and dtype choice that reproduces it."),
]

COLUMNS: dict[str, list[Column]] = {
    "reviews": [
        Column("key", "string", "Content hash of every input that shaped the review."),
        Column("tool", "string", "Tool slug."), Column("tool_name", "string", "Tool name."),
        *_SLOT,
        Column("score", "int32", "The model's score, 0-100 (null if failed)."),
        Column("verdict", "string", "The model's verdict: ship or skip (null if failed)."),
        Column("reasoning", "string", "The model's notes before the score."),
        Column("review", "string", "The model's review text."),
        Column("evidence", "strings", "The 1-3 sentences of the card the review quotes "
               "first (verbatim by the grammar); empty for schema versions before 5."),
        Column("unsupported", "strings", "Numbers, prices, versions and proper names of "
               "the review that its card does not hold (unsupported claims)."),
        Column("expected_score", "float64", "The score's expectation under the engine's "
               "log-probabilities, beside the sampled one."),
        Column("p_ship", "float64", "Probability of a ship verdict under the same."),
        *_COST,
        Column("seed", "int64", "The last attempt's request seed."),
        Column("finish_reason", "string", "The last attempt's finish reason."),
        Column("prompt_tokens", "int64", "Prompt length in tokens."),
        Column("output_tokens", "int64", "Generated tokens, every attempt."),
        Column("seconds", "float64", "Engine seconds, every attempt."),
        Column("prompt_sha", "string", "Hash of the rendered prompt messages."),
        Column("persona_sha", "string", "Hash of the persona file."),
        Column("vllm_version", "string", "vLLM version that generated it."),
        Column("torch_version", "string", "torch version that generated it."),
        Column("dtype", "string", "The engine's dtype, when recorded."),
        *_TAIL,
    ],
    "head_to_head": [
        Column("key", "string", "Content hash of the judgment's inputs."),
        Column("first", "string", "Slug of the tool shown first."),
        Column("first_name", "string", "Name of the tool shown first."),
        Column("second", "string", "Slug of the tool shown second."),
        Column("second_name", "string", "Name of the tool shown second."),
        *_SLOT,
        Column("choice", "string", "first, second, both-ship or neither-ship."),
        Column("margin", "int32", "How clear the pick is, 0-100."),
        Column("reason", "string", "The model's reason."),
        *_COST,
        Column("output_tokens", "int64", "Generated tokens, every attempt."),
        Column("seconds", "float64", "Engine seconds, every attempt."),
        *_TAIL,
    ],
    "edits": [
        Column("tool", "string", "Tool slug."),
        Column("persona", "string", "Persona key."),
        Column("model", "string", "Backbone of the edited review."),
        Column("review_key", "string", "Key of the review the edit was made on."),
        Column("score", "int32", "The editor's score, if changed."),
        Column("verdict", "string", "The editor's verdict, if changed."),
        Column("review", "string", "The editor's review text, if changed."),
        Column("approved", "bool", "Approved for publication."),
        Column("editor", "string", "Who edited, if known."),
        Column("at", "timestamp", "When (UTC)."),
    ],
    "audits": [
        Column("audit", "string", "Audit name."),
        Column("model", "string", "Backbone."),
        Column("persona", "string", "Persona key, or 'all'."),
        Column("bias", "string", "position, consistency, verbosity, name, injection or "
               "injection-flip."),
        Column("unit", "string", "% for a share, points for a score shift."),
        Column("n", "int64", "Observations."),
        Column("k", "int64", "Successes, for a share."),
        Column("excluded", "int64", "Observations left out (a failed review or judgment)."),
        Column("estimate", "float64", "The share (%) or mean shift (points)."),
        Column("ci_low", "float64", "Lower end of the 95% interval, clustered by card."),
        Column("ci_high", "float64", "Upper end of that interval."),
        Column("clusters", "int64", "Cards (pairs, for position) the interval resamples."),
        Column("method", "string", "How the interval was computed."),
        Column("naive_ci_low", "float64", "Lower end of the naive interval."),
        Column("naive_ci_high", "float64", "Upper end of the naive interval."),
        Column("created_at", "timestamp", "When the audit report was written (UTC)."),
    ],
    "studies": [
        Column("study", "string", "Study name."),
        Column("model", "string", "Backbone."),
        Column("position", "int64", "The review's place in the model's run."),
        Column("review_key", "string", "Key of a review in the reviews config."),
        Column("created_at", "timestamp", "When the study manifest was written (UTC)."),
    ],
}
