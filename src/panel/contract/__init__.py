"""The review contract: the pydantic output, its grammars, and stored records."""
