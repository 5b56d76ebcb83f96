"""Developer tools: benchmarks, ASL and build checks. They may import opspilot_sim and opspilot;
nothing imports them."""
