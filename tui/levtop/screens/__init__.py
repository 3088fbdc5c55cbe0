"""Full-screen views pushed over the dashboard: help, explain, zoom."""
