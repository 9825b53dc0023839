"""Event hooks: what happened on the lines, POSTed (signed, in order, retried)
to the business's own systems. config.py reads [hooks.NAME]; events.py says
which decisions are which events; payload.py builds the JSON that
event.schema.json describes; sender.py POSTs it; worker.py claims and
records the deliveries; command.py is `ivr hooks`."""
