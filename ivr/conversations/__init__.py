"""The conversation engine that texts and calls share.

Every function here runs inside one store transaction (`tx`), so each
decision row is written with the state change it explains and with the
outbox rows it causes. Where to look:

  inbound.py         Inbound: a text that arrived at a line
  opening.py         open a conversation for a customer, or join the open one
  customer_text.py   a customer's text: STOP/START/HELP, a first text, a follow-up
  follow_up.py       a later text goes to the owner, or joins the pending page
  flood.py           the flood limit: only a number over it has texts held and batched
  blocking.py        blocked numbers: texts logged and dropped, calls rejected
  responder_text.py  a responder's text: ACK, CLOSE, OFF/ON, a reply relayed
  responder_commands.py  PASS, HANDOVER, RELEASE, LIST, HELP by text
  returning.py       back to the cascade: owner cleared, current tier paged again
  paging.py          choose the tier to page and page its responders
  sending.py         queue a text to a responder or to the customer (the outbox)
  escalation.py      a text nobody ACKs in time: the next tier, then the last call
  timers.py          fire due timers (ACK deadlines, flood flushes): the sweeper
  delivery.py        a page Twilio could not deliver or refused
  closing.py         close a conversation (a responder's CLOSE or an operator)
  operator.py        what an operator does from the dashboard: close, hand over
  unrecorded.py      what a text becomes when the store cannot take it
  commands.py        pure: what a responder's or a customer's text means
  tiers.py           pure: who is in a tier, which comes next
  wording.py         pure: templates rendered, texts split for Twilio
"""
