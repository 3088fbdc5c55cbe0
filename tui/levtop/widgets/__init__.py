"""The Textual widgets: one panel per file. Widgets only render the view model (levtop.view)."""
