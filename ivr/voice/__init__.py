"""Calls to the line: a tiered <Dial> cascade with press-1 screening, an
optional menu, and voicemail that is texted to every responder.

  routes.py      the webhooks below: parse, one store write, render
  cascade.py     a call's way: greeting, menu, one <Dial> per tier, resume after a retry
  whisper.py     a responder's leg: "press 1 to take it", and who got the call
  voicemail.py   taking a message, and texting it (then its transcription) to responders
  voicemail_without_number.py  the same for a caller with no number: no conversation
  voicemail_prompt.py  the prompt: the text-back key, a hang-up before the recording
  missed_call.py nobody took it and no message: a conversation, a text-back to the caller
  answers.py     what a caller or responder hears when something failed
  after_dial.py  pure: what a call does after each Dial; menu repeats; spoken numbers
  ring_time.py   pure: each Dial's timeout, within the call's deadline

Twilio fetches TwiML from these routes as the call goes on:

  /voice/incoming       (pasted into the console) greeting, menu or first Dial
  /voice/menu           the menu's Gather action
  /voice/whisper        a responder's leg, before bridging: "press 1 to take it"
  /voice/whisper-answer the whisper's Gather action: records who accepted
  /voice/dial-result    the Dial action: connected, next tier, or voicemail
  /voice/voicemail      voicemail (also where any failure redirects the caller)
  /voice/voicemail-prompt the prompt's Gather action: the recording, or a text-back
  /voice/voicemail-done the Record action
  /voice/recording      recordingStatusCallback: text the voicemail to responders
  /voice/transcription  transcribeCallback: text the transcription
  /voice/status         the call's status callback: a hang-up ends the cascade
"""
