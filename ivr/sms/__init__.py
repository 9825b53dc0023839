"""Texts to the line.

  routes.py      POST /sms/incoming and /sms/status: parse, one store write, answer
  inbound.py     a text from the form; a retry answered as before; customer or responder
  unrecorded.py  the answer that carries a text on when the store cannot take it

What a text then does is the conversation engine's (ivr/conversations/).
"""
