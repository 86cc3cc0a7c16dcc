"""Result files that survive a kill, and the locks that give each one owner."""
