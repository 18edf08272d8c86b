"""Operations' own work: background jobs claimed once across hosts, retention, backup."""
