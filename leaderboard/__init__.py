"""The challenge leaderboard: a Flask app where teams upload predictions and see their ROC AUC."""
