"""Exchange emulators, one module per venue, each exposing ``api() -> VenueApi``."""
