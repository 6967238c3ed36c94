"""Usage records (使用记录): hash chain, signed checkpoints, verification, totals and anomalies."""
