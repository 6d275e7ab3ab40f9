"""Microsoft 365 through Microsoft Graph (issue 6; SPEC G-1..G-3): an MSAL token source,
an HTTP client that keeps to Graph's contract and budgets, the tenant sync, and a fake."""
