from levtop.cli import entry

entry()
