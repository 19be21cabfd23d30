// KilnImage: see Docs/architecture.md for what this module owns and what it may import.
