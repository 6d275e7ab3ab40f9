"""The directory: Porth's system of record (schools, people, groups, states)."""
