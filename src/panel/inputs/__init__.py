"""What goes in: tool cards, personas, and the prompts rendered from them."""
