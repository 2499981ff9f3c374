"""Quality reports, reviews and gates live here (see issue on the quality engine)."""
