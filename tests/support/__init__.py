"""What the tests drive the service with: Twilio played from outside.

  harness.py        numbers, tokens and the in-process Harness every test file builds its app with
  processes.py      the real run.py as a process: free ports, a clean environment, start and stop
  driver.py         signed webhooks posted as Twilio posts them
  fake_twilio.py    a strict fake of Twilio's REST API on loopback
  call_simulator.py Twilio's voice engine, following the service's TwiML
  twiml_check.py    every TwiML document checked against twilio-python's verbs and attributes
  twilio_rules.py   the either/or rules Twilio's OpenAPI description leaves out
  prism.py          Prism serving Twilio's OpenAPI description, for the contract tests
"""
