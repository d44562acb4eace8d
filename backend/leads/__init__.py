"""Lead intake: stream folders, uploads and the CLI, format control of appendix А, import records, lead snapshots."""
