"""The operations console: the web pages operators run Sika from (docs/console.md)."""
