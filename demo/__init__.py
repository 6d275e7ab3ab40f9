"""The demo local authority: its people, its generated MIS exports, the loader, and the fake
Microsoft Graph the demo (and the tests) run against."""
