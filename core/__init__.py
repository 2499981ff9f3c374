"""Shared helpers with no domain: errors, the API error shape, viewset base, filters, page helpers,
middleware, authentication. The bottom floor: it imports no app of Quorum."""
