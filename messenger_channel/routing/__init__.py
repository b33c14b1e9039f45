"""Classification: routing rules that pick a conversation's queue and attributes."""
