"""Alerts and remote control: the Telegram notifier and command bot (issue 9)."""
