"""The offline AWS world: fakes at the AWS API boundary, moto glue, the simulated stack, scenarios,
reports and the interactive approval server. Imports run one way: opspilot_cli -> opspilot_sim ->
opspilot (the functions' code)."""
