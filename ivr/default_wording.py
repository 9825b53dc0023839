"""The default wording of everything the line says and texts, and the
variables each template takes. A line overrides any of them under
[lines.<id>.messages]; ivr.config checks each override renders."""

from __future__ import annotations

from typing import Any

# Texts sent by SMS. Operators override them per line under
# [lines.<id>.messages]; customers' words only ever arrive as variables, so a
# body full of "{{ }}" is text, never template code.
DEFAULT_MESSAGES: dict[str, str] = {
    # To the customer
    "ack": "Thanks, we got your message. {{ responder }} will reply shortly.",
    "escalation": "We're still finding someone for you; your message has gone to {{ responder }}.",
    "taken": "{{ responder }} is on it and will text you from this number.",
    "closed": "{{ line }} has closed this conversation. Text us again any time.",
    "ack_after_hours": "Thanks, we got your message. We're closed now; {{ responder }} will"
                       " reply as soon as they can.",
    # To responders
    "forward": "[{{ line_code }} #{{ code }}] {{ customer }}: {{ body }}"
               "{% if media %} {{ media | join(' ') }}{% endif %} - reply ACK to take it",
    "follow_up": "[{{ line_code }} #{{ code }}] {{ customer }}: {{ body }}"
                 "{% if media %} {{ media | join(' ') }}{% endif %}",
    "moved_on": "[{{ line_code }} #{{ code }}] nobody took it in time; it went to {{ responder }}."
                " You can still reply ACK {{ code }}.",
    "unanswered": "[{{ line_code }} #{{ code }}] UNANSWERED: nobody has taken it. {{ customer }}:"
                  " {{ body }} - reply ACK {{ code }} to take it",
    "taken_by_other": "[{{ line_code }} #{{ code }}] {{ responder }} took it.",
    "ack_confirm": "[{{ line_code }} #{{ code }}] is yours. Your replies go to the customer from"
                   " the line's number; CLOSE {{ code }} when done.",
    "already_taken": "[{{ line_code }} #{{ code }}] is already taken by {{ responder }}.",
    "nothing_to_ack": "Nothing is waiting for an ACK on {{ line }}.",
    "unknown_code": "[{{ line_code }}] there is no open #{{ code }}.",
    "help": "[{{ line_code }}] you have{% for c in codes %} #{{ c }}{% endfor %}: start your"
            " reply with the number, e.g. \"{{ codes | first }} On my way\". CLOSE and the"
            " number closes one.",
    "nothing_owned": "[{{ line_code }}] you have no open conversation on {{ line }}; reply ACK"
                     " to take the one waiting for you.",
    "close_confirm": "[{{ line_code }} #{{ code }}] closed; the customer was told.",
    "closed_notice": "[{{ line_code }} #{{ code }}] closed by {{ by }}{% if dashboard %} on"
                     " the dashboard{% endif %}; nothing more to do.",
    "blocked_confirm": "[{{ line_code }} #{{ code }}] {{ customer }} is blocked: their texts go"
                       " nowhere and their calls are rejected. #{{ code }} is closed.",
    "opted_out": "[{{ line_code }} #{{ code }}] the customer has opted out (STOP); texts to them"
                 " are not sent.",
    "availability": "You are now {{ status }} on {{ line }}{% if until %} until {{ until }}"
                    "{% endif %}. Text ON or OFF to change it.",
    # A responder's commands by text (PASS, HANDOVER, RELEASE, LIST, HELP)
    "commands": "[{{ line_code }}] ACK [code] takes it; PASS [code] sends it to the next tier"
                " now; HANDOVER name [code] gives it to someone; RELEASE [code] gives it back;"
                " CLOSE [code] closes it; BLOCK [code] blocks its number; LIST shows yours;"
                " OFF or ON. To text a customer"
                " something starting with one of these words, start with the code:"
                " \"12 pass the salt\".",
    "listed": "[{{ line_code }}] yours:{% for c in owned %} #{{ c.code }} {{ c.customer }}"
              "{% else %} none{% endfor %}{% if waiting %}; waiting for an ACK:"
              "{% for c in waiting %} #{{ c.code }} {{ c.customer }}{% endfor %}{% endif %}.",
    "passed": "[{{ line_code }} #{{ code }}] passed on{% if responder %} to {{ responder }}"
              "{% endif %}.",
    "nothing_to_pass": "[{{ line_code }}] nothing to {{ command }}: add the code, e.g."
                       " \"{{ command }} 12\" (LIST shows yours).",
    "unknown_responder": "[{{ line_code }}] nobody called {{ typed }} answers {{ line }}; try"
                         " {{ names }}.",
    "handed_to_you": "[{{ line_code }} #{{ code }}] {{ customer }}: {{ body }}"
                     "{% if media %} {{ media | join(' ') }}{% endif %} (handed to you"
                     "{% if by %} by {{ by }}{% endif %}; replies go to the customer)",
    "handover_confirm": "[{{ line_code }} #{{ code }}] handed to {{ responder }}.",
    "released_confirm": "[{{ line_code }} #{{ code }}] released; it went to {{ responder }}.",
    # A missed call (hung up while ringing, or no message left)
    "missed_call_page": "[{{ line_code }} #{{ code }}] missed call from {{ customer }} at"
                        " {{ time }}; they were texted to reply - reply ACK {{ code }} to take it",
    "missed_call_page_no_number": "[{{ line_code }}] missed call from a caller with no number"
                                  " at {{ time }} - they cannot be called or texted back",
    "missed_call_note": "Missed call at {{ time }}, no message",
    "missed_call_text": "Sorry we missed your call to {{ line }}. Reply to this text and we"
                        " will get back to you here.",
    # The caller pressed the text-back key at the voicemail prompt
    "text_back_page": "[{{ line_code }} #{{ code }}] {{ customer }} called at {{ time }} and"
                      " asked to be texted back; they were texted to reply - reply ACK"
                      " {{ code }} to take it",
    "text_back_note": "Called at {{ time }} and asked to be texted back",
    # When the store cannot take a text, the webhook's TwiML carries it instead
    "forward_unrecorded": "[{{ line_code }}] {{ customer }}: {{ body }}"
                          "{% if media %} {{ media | join(' ') }}{% endif %} - the line could"
                          " not record this text: ACK and replies will not reach the customer,"
                          " contact them directly.",
    "reply_unrecorded": "[{{ line_code }}] the line could not take your text just now; nothing"
                        " was relayed or acknowledged. Try again in a minute, or contact the"
                        " customer directly.",
    # Spoken on calls
    "greeting": "Thanks for calling {{ line }}. Please hold while we find someone for you.",
    "greeting_after_hours": "Thanks for calling {{ line }}. We are closed right now; we are"
                            " trying whoever is on call.",
    "whisper": "Call for {{ line }} from {{ caller }}. Press 1 to take it.",
    "voicemail_prompt": "Sorry, nobody could take your call. Please leave a message after the"
                        " tone, and we will get back to you.",
    "apology": "Sorry, we are having trouble connecting your call.",
    "voicemail_after_hours": "Thanks for calling {{ line }}. We are closed right now. Please"
                             " leave a message after the tone, and we will get back to you.",
    "voicemail_text_back_offer": "Or press {{ key }}, and we will text you back instead.",
    "text_back_goodbye": "Thank you. We will text you back at this number shortly. Goodbye.",
    "text_back_no_number": "Sorry, we cannot text you back: your number is hidden. Please"
                           " leave a message after the tone.",
    "voicemail_thanks": "Thank you. We will get back to you. Goodbye.",
    "voicemail_nothing": "We did not get a message. Goodbye.",
    "not_in_service": "The number you have called is not in service. Goodbye.",
    # Spoken to a responder who answers a call (the whisper's outcome)
    "whisper_connecting": "Connecting you now.",
    "whisper_declined": "The call was not taken. Goodbye.",
    "whisper_caller_gone": "The caller has hung up. Goodbye.",
    "whisper_taken": "Someone else has taken this call. Goodbye.",
    "whisper_unavailable": "Sorry, this call cannot be connected.",
    "unknown_number": "an unknown number",
    # Spoken to a responder on a phone page (a call about a text nobody ACKed)
    "page_call": "This is {{ line }}. {{ customer }} is waiting, conversation {{ code }}."
                 " They wrote: {{ body }}.",
    "page_call_keys": "Press 1 to take it. Press 2 to pass it on. Press 3 to hear it again.",
    "page_call_taken": "It is yours. The customer has been told. Reply to them by text."
                       " Goodbye.",
    "page_call_passed": "Passed on{% if responder %} to {{ responder }}{% endif %}. Goodbye.",
    "page_call_gone": "{% if responder %}{{ responder }} has already taken it.{% else %}It is"
                      " no longer waiting.{% endif %} Goodbye.",
    "page_call_no_key": "No key was pressed. It is still waiting for you: reply ACK by text"
                        " to take it. Goodbye.",
    "page_call_owner": "This is {{ line }}. A text from {{ customer }} in conversation"
                       " {{ code }} could not reach your phone. It says: {{ body }}.",
    "page_call_owner_keys": "Press 1 to keep it and answer them. Press 2 to pass it on."
                            " Press 3 to hear it again.",
    "page_call_kept": "It is still yours. Goodbye.",
    "page_call_unknown": "Goodbye.",
    "page_call_error": "Sorry, this call cannot go on. Goodbye.",
    "page_call_owner_no_key": "No key was pressed. It goes back to the others on the line."
                              " Goodbye.",
    # Texted about voicemails
    "voicemail_page": "[{{ line_code }} #{{ code }}] voicemail from {{ customer }} at {{ time }},"
                      " {{ duration }} s{% if transcription %}: {{ transcription }}{% endif %}"
                      " {{ recording }} - reply ACK {{ code }} to take it",
    "transcription_page": "[{{ line_code }} #{{ code }}] the voicemail from {{ customer }} says:"
                          " {{ transcription }}",
    "voicemail_page_no_number": "[{{ line_code }}] voicemail from a caller with no number at"
                                " {{ time }}{% if duration %}, {{ duration }} s{% endif %}"
                                "{% if transcription %}: {{ transcription }}{% endif %}"
                                " {{ recording }} - they cannot be called or texted back",
    "transcription_page_no_number": "[{{ line_code }}] the voicemail from a caller with no"
                                    " number says: {{ transcription }}",
    # The daily summary ([lines.X.daily_summary]): the day before, in the line's zone
    "daily_summary": "[{{ line_code }}] {{ day }}: {{ texts }} texts, {{ calls }} calls"
                     " ({{ missed }} missed), {{ voicemails }} voicemails, {{ unanswered }}"
                     " unanswered. Median time to ACK: {% if median_ack_seconds is none %}"
                     "nothing was ACKed{% elif median_ack_seconds < 60 %}"
                     "{{ median_ack_seconds }} s{% else %}{{ median_ack_seconds // 60 }} min"
                     " {{ median_ack_seconds % 60 }} s{% endif %}.",
    # Several responders named in one sentence: "Sergio, Ana or Bo"
    "names_list": "{% if listed | length > 1 %}{{ listed[:-1] | join(', ') }} or"
                  " {{ listed[-1] }}{% else %}{{ listed | join('') }}{% endif %}",
    # What stands for a customer's text that was only pictures
    "no_text": "(no text)",
    # A voicemail as the conversation's text, shown in later pages and hand-overs
    "voicemail_body": "Voicemail ({{ duration }} s){% if transcription %}: {{ transcription }}"
                      "{% endif %} {{ recording }}",
}

# The variables each message is rendered with (besides line and line_code);
# a template that uses anything else is refused at start instead of failing
# when a customer writes in.
MESSAGE_VARIABLES: dict[str, tuple[str, ...]] = {
    "ack": ("responder",),
    "ack_after_hours": ("responder",),
    "availability": ("status", "until"),
    "greeting_after_hours": (),
    "escalation": ("responder",),
    "taken": ("responder",),
    "closed": (),
    "forward": ("code", "customer", "body", "media"),
    "follow_up": ("code", "customer", "body", "media"),
    "moved_on": ("code", "responder"),
    "unanswered": ("code", "customer", "body", "media"),
    "taken_by_other": ("code", "responder"),
    "ack_confirm": ("code",),
    "already_taken": ("code", "responder"),
    "nothing_to_ack": (),
    "unknown_code": ("code",),
    "help": ("codes",),
    "nothing_owned": (),
    "close_confirm": ("code",),
    "closed_notice": ("code", "by", "dashboard"),
    "blocked_confirm": ("code", "customer"),
    "opted_out": ("code",),
    "commands": (),
    "listed": ("owned", "waiting"),
    "passed": ("code", "responder"),
    "nothing_to_pass": ("command",),
    "unknown_responder": ("typed", "names"),
    "handed_to_you": ("code", "customer", "body", "media", "by"),
    "handover_confirm": ("code", "responder"),
    "released_confirm": ("code", "responder"),
    "missed_call_page": ("code", "customer", "time"),
    "missed_call_page_no_number": ("time",),
    "missed_call_note": ("time",),
    "missed_call_text": (),
    "text_back_page": ("code", "customer", "time"),
    "text_back_note": ("time",),
    "voicemail_text_back_offer": ("key",),
    "text_back_goodbye": (),
    "text_back_no_number": (),
    "forward_unrecorded": ("customer", "body", "media"),
    "reply_unrecorded": (),
    "greeting": (),
    "whisper": ("caller",),
    "voicemail_prompt": (),
    "apology": (),
    "voicemail_after_hours": (),
    "voicemail_thanks": (),
    "voicemail_nothing": (),
    "not_in_service": (),
    "whisper_connecting": (),
    "whisper_declined": (),
    "whisper_caller_gone": (),
    "whisper_taken": (),
    "whisper_unavailable": (),
    "unknown_number": (),
    "page_call": ("code", "customer", "body"),
    "page_call_keys": (),
    "page_call_taken": (),
    "page_call_passed": ("responder",),
    "page_call_gone": ("responder",),
    "page_call_no_key": (),
    "page_call_owner": ("code", "customer", "body"),
    "page_call_owner_keys": (),
    "page_call_kept": (),
    "page_call_unknown": (),
    "page_call_error": (),
    "page_call_owner_no_key": (),
    "voicemail_page": ("code", "customer", "time", "duration", "transcription", "recording"),
    "transcription_page": ("code", "customer", "transcription"),
    "voicemail_page_no_number": ("time", "duration", "transcription", "recording"),
    "transcription_page_no_number": ("transcription",),
    "daily_summary": ("day", "texts", "calls", "missed", "voicemails", "unanswered",
                      "median_ack_seconds"),
    "voicemail_body": ("duration", "transcription", "recording"),
    "no_text": (),
    "names_list": ("listed",),
}
assert set(MESSAGE_VARIABLES) == set(DEFAULT_MESSAGES)

# Every template may use these too: the line, its code, the line's local
# time ("6:04 PM", in its hours' zone) and the caller's or texter's number
# as a person reads it ("+1 619-555-0100"; "" when withheld).
COMMON_VARIABLES = ("line", "line_code", "local_time", "caller_number")

# Templates spoken on calls: each may be a recording instead
# ([lines.<id>.recordings], ivr/line_languages.py), played with <Play>.
# "menu_prompt" is the line's [menu] prompt.
SPOKEN_KEYS = frozenset({
    "menu_prompt", "greeting", "greeting_after_hours", "whisper", "voicemail_prompt",
    "apology", "voicemail_after_hours", "voicemail_text_back_offer", "text_back_goodbye",
    "text_back_no_number", "voicemail_thanks", "voicemail_nothing", "not_in_service",
    "whisper_connecting", "whisper_declined", "whisper_caller_gone", "whisper_taken",
    "whisper_unavailable", "page_call", "page_call_keys", "page_call_taken",
    "page_call_passed", "page_call_gone", "page_call_no_key", "page_call_owner",
    "page_call_owner_keys", "page_call_kept", "page_call_unknown", "page_call_error",
    "page_call_owner_no_key"})

MESSAGE_SAMPLE: dict[str, Any] = {
    "line": "Quick Dump Now",
    "line_code": "QDN",
    "code": 12,
    "customer": "+1 619-555-0100",
    "body": "Hello",
    "media": ["https://example.com/m.jpg"],
    "responder": "Sergio",
    "codes": [3, 12],
    "caller": "6 1 9, 5 5 5, 0 1 4 2",
    "status": "off",
    "until": "Mon 08:00",
    "time": "6:04 PM",
    "duration": 42,
    "transcription": "Hi, the bin is full.",
    "recording": "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE1",
    "owned": [{"code": 3, "customer": "+1 619-555-0100"}],
    "waiting": [{"code": 12, "customer": "+1 619-555-0142"}],
    "command": "PASS",
    "typed": "bakup",
    "names": "Sergio, Backup",
    "by": "Sergio",
    "key": "1",
    "day": "Sun 1 Nov",
    "texts": 14,
    "calls": 6,
    "missed": 2,
    "voicemails": 1,
    "unanswered": 0,
    "median_ack_seconds": 95,
    "listed": ["Sergio", "Backup"],
    "dashboard": True,
    "local_time": "6:04 PM",
    "caller_number": "+1 619-555-0142",
}
