"""The default Spanish wording: every template of ivr/default_wording.py
in Spanish, with the same variables, so a Spanish line (or the Spanish
half of a bilingual one) works without the operator writing a template.
A key with no Spanish here falls back to the English default (and
tests/test_languages.py names it, so whoever adds a key adds its Spanish).

Spanish spoken in the United States and Mexico: "usted", "oprima" for a
key, "mensaje de texto" for an SMS. Commands responders type (ACK, CLOSE,
PASS ...) stay as they are: the service reads them in any language."""

from __future__ import annotations

SPANISH_MESSAGES: dict[str, str] = {
    # To the customer
    "ack": "Gracias, recibimos su mensaje. {{ responder }} le responderá en breve.",
    "escalation": "Seguimos buscando a alguien para atenderle; su mensaje pasó a"
                  " {{ responder }}.",
    "taken": "{{ responder }} se encarga y le escribirá desde este número.",
    "closed": "{{ line }} cerró esta conversación. Escríbanos cuando quiera.",
    "ack_after_hours": "Gracias, recibimos su mensaje. Ahora estamos cerrados; {{ responder }}"
                       " le responderá en cuanto pueda.",
    # To responders
    "forward": "[{{ line_code }} #{{ code }}] {{ customer }}: {{ body }}"
               "{% if media %} {{ media | join(' ') }}{% endif %} - responda ACK para tomarlo",
    "follow_up": "[{{ line_code }} #{{ code }}] {{ customer }}: {{ body }}"
                 "{% if media %} {{ media | join(' ') }}{% endif %}",
    "moved_on": "[{{ line_code }} #{{ code }}] nadie lo tomó a tiempo; pasó a {{ responder }}."
                " Aún puede responder ACK {{ code }}.",
    "unanswered": "[{{ line_code }} #{{ code }}] SIN RESPUESTA: nadie lo ha tomado."
                  " {{ customer }}: {{ body }} - responda ACK {{ code }} para tomarlo",
    "taken_by_other": "[{{ line_code }} #{{ code }}] lo tomó {{ responder }}.",
    "ack_confirm": "[{{ line_code }} #{{ code }}] es suyo. Sus respuestas llegan al cliente"
                   " desde el número de la línea; CLOSE {{ code }} al terminar.",
    "already_taken": "[{{ line_code }} #{{ code }}] ya lo tomó {{ responder }}.",
    "nothing_to_ack": "Nada espera un ACK en {{ line }}.",
    "unknown_code": "[{{ line_code }}] no hay un #{{ code }} abierto.",
    "help": "[{{ line_code }}] tiene{% for c in codes %} #{{ c }}{% endfor %}: empiece su"
            " respuesta con el número, p. ej. \"{{ codes | first }} Voy en camino\". CLOSE y el"
            " número cierra uno.",
    "nothing_owned": "[{{ line_code }}] no tiene conversaciones abiertas en {{ line }};"
                     " responda ACK para tomar la que le espera.",
    "close_confirm": "[{{ line_code }} #{{ code }}] cerrado; se avisó al cliente.",
    "blocked_confirm": "[{{ line_code }} #{{ code }}] {{ customer }} está bloqueado: sus"
                       " mensajes no llegan a nadie y sus llamadas se rechazan. #{{ code }}"
                       " está cerrado.",
    "opted_out": "[{{ line_code }} #{{ code }}] el cliente se dio de baja (STOP); no se le"
                 " envían mensajes.",
    "availability": "Ahora está {{ status }} en {{ line }}{% if until %} hasta {{ until }}"
                    "{% endif %}. Escriba ON u OFF para cambiarlo.",
    "commands": "[{{ line_code }}] ACK [código] lo toma; PASS [código] lo pasa al siguiente"
                " nivel ya; HANDOVER nombre [código] se lo da a alguien; RELEASE [código] lo"
                " devuelve; CLOSE [código] lo cierra; BLOCK [código] bloquea su número; LIST"
                " muestra los suyos; OFF u ON. Para escribir al cliente algo que empiece con"
                " una de estas palabras, empiece con el código: \"12 pass la sal\".",
    "listed": "[{{ line_code }}] suyos:{% for c in owned %} #{{ c.code }} {{ c.customer }}"
              "{% else %} ninguno{% endfor %}{% if waiting %}; esperan un ACK:"
              "{% for c in waiting %} #{{ c.code }} {{ c.customer }}{% endfor %}{% endif %}.",
    "passed": "[{{ line_code }} #{{ code }}] pasado{% if responder %} a {{ responder }}"
              "{% endif %}.",
    "nothing_to_pass": "[{{ line_code }}] nada que {{ command }}: añada el código, p. ej."
                       " \"{{ command }} 12\" (LIST muestra los suyos).",
    "unknown_responder": "[{{ line_code }}] nadie llamado {{ typed }} atiende {{ line }};"
                         " pruebe {{ names }}.",
    "handed_to_you": "[{{ line_code }} #{{ code }}] {{ customer }}: {{ body }}"
                     "{% if media %} {{ media | join(' ') }}{% endif %} (se lo pasaron"
                     "{% if by %} de parte de {{ by }}{% endif %}; sus respuestas van al"
                     " cliente)",
    "handover_confirm": "[{{ line_code }} #{{ code }}] pasado a {{ responder }}.",
    "released_confirm": "[{{ line_code }} #{{ code }}] liberado; pasó a {{ responder }}.",
    "missed_call_page": "[{{ line_code }} #{{ code }}] llamada perdida de {{ customer }} a las"
                        " {{ time }}; se le pidió por mensaje que responda - responda ACK"
                        " {{ code }} para tomarlo",
    "missed_call_page_no_number": "[{{ line_code }}] llamada perdida de un número oculto a las"
                                  " {{ time }} - no se le puede llamar ni escribir",
    "missed_call_note": "Llamada perdida a las {{ time }}, sin mensaje",
    "missed_call_text": "Lamentamos no haber atendido su llamada a {{ line }}. Responda a este"
                        " mensaje y le atenderemos por aquí.",
    "text_back_page": "[{{ line_code }} #{{ code }}] {{ customer }} llamó a las {{ time }} y"
                      " pidió que le escriban; se le pidió por mensaje que responda -"
                      " responda ACK {{ code }} para tomarlo",
    "text_back_note": "Llamó a las {{ time }} y pidió que le escriban",
    "forward_unrecorded": "[{{ line_code }}] {{ customer }}: {{ body }}"
                          "{% if media %} {{ media | join(' ') }}{% endif %} - la línea no pudo"
                          " guardar este mensaje: ACK y las respuestas no llegarán al cliente,"
                          " contáctelo directamente.",
    "reply_unrecorded": "[{{ line_code }}] la línea no pudo tomar su mensaje ahora; no se"
                        " reenvió ni se confirmó nada. Inténtelo en un minuto o contacte al"
                        " cliente directamente.",
    # Spoken on calls
    "greeting": "Gracias por llamar a {{ line }}. Por favor espere mientras buscamos a alguien"
                " que le atienda.",
    "greeting_after_hours": "Gracias por llamar a {{ line }}. Ahora estamos cerrados; estamos"
                            " intentando con quien esté de guardia.",
    "whisper": "Llamada para {{ line }} de {{ caller }}. Oprima 1 para tomarla.",
    "voicemail_prompt": "Lo sentimos, nadie pudo atender su llamada. Por favor deje un mensaje"
                        " después del tono y le devolveremos la llamada.",
    "apology": "Lo sentimos, tenemos problemas para conectar su llamada.",
    "voicemail_after_hours": "Gracias por llamar a {{ line }}. Ahora estamos cerrados. Por favor"
                             " deje un mensaje después del tono y le devolveremos la llamada.",
    "voicemail_text_back_offer": "O oprima {{ key }} y le enviaremos un mensaje de texto.",
    "text_back_goodbye": "Gracias. Le enviaremos un mensaje de texto a este número en breve."
                         " Adiós.",
    "text_back_no_number": "Lo sentimos, no podemos escribirle: su número está oculto. Por"
                           " favor deje un mensaje después del tono.",
    "voicemail_thanks": "Gracias. Le devolveremos la llamada. Adiós.",
    "voicemail_nothing": "No recibimos ningún mensaje. Adiós.",
    "not_in_service": "El número que marcó no está en servicio. Adiós.",
    "whisper_connecting": "Le conectamos ahora.",
    "whisper_declined": "La llamada no se tomó. Adiós.",
    "whisper_caller_gone": "La persona que llamó ya colgó. Adiós.",
    "whisper_taken": "Otra persona ya tomó esta llamada. Adiós.",
    "whisper_unavailable": "Lo sentimos, esta llamada no se puede conectar.",
    "unknown_number": "un número desconocido",
    "page_call": "Le habla {{ line }}. {{ customer }} está esperando, conversación {{ code }}."
                 " Escribió: {{ body }}.",
    "page_call_keys": "Oprima 1 para tomarlo. Oprima 2 para pasarlo. Oprima 3 para oírlo de"
                      " nuevo.",
    "page_call_taken": "Es suyo. Se avisó al cliente. Respóndale por mensaje de texto. Adiós.",
    "page_call_passed": "Pasado{% if responder %} a {{ responder }}{% endif %}. Adiós.",
    "page_call_gone": "{% if responder %}{{ responder }} ya lo tomó.{% else %}Ya no está"
                      " esperando.{% endif %} Adiós.",
    "page_call_no_key": "No se oprimió ninguna tecla. Sigue esperándole: responda ACK por"
                        " mensaje para tomarlo. Adiós.",
    "page_call_owner": "Le habla {{ line }}. Un mensaje de {{ customer }} en la conversación"
                       " {{ code }} no llegó a su teléfono. Dice: {{ body }}.",
    "page_call_owner_keys": "Oprima 1 para quedárselo y responder. Oprima 2 para pasarlo."
                            " Oprima 3 para oírlo de nuevo.",
    "page_call_kept": "Sigue siendo suyo. Adiós.",
    "page_call_unknown": "Adiós.",
    "page_call_error": "Lo sentimos, esta llamada no puede continuar. Adiós.",
    "page_call_owner_no_key": "No se oprimió ninguna tecla. Vuelve a los demás de la línea."
                              " Adiós.",
    "voicemail_page": "[{{ line_code }} #{{ code }}] mensaje de voz de {{ customer }} a las"
                      " {{ time }}, {{ duration }} s{% if transcription %}:"
                      " {{ transcription }}{% endif %} {{ recording }} - responda ACK"
                      " {{ code }} para tomarlo",
    "transcription_page": "[{{ line_code }} #{{ code }}] el mensaje de voz de {{ customer }}"
                          " dice: {{ transcription }}",
    "voicemail_page_no_number": "[{{ line_code }}] mensaje de voz de un número oculto a las"
                                " {{ time }}{% if duration %}, {{ duration }} s{% endif %}"
                                "{% if transcription %}: {{ transcription }}{% endif %}"
                                " {{ recording }} - no se le puede llamar ni escribir",
    "transcription_page_no_number": "[{{ line_code }}] el mensaje de voz de un número oculto"
                                    " dice: {{ transcription }}",
    "no_text": "(sin texto)",
    "names_list": "{% if listed | length > 1 %}{{ listed[:-1] | join(', ') }} o"
                  " {{ listed[-1] }}{% else %}{{ listed | join('') }}{% endif %}",
    "voicemail_body": "Mensaje de voz ({{ duration }} s){% if transcription %}:"
                      " {{ transcription }}{% endif %} {{ recording }}",
    "closed_notice": "[{{ line_code }} #{{ code }}] cerrada por {{ by }}{% if dashboard %}"
                     " desde el panel{% endif %}; no queda nada por hacer.",
    "daily_summary": "[{{ line_code }}] {{ day }}: {{ texts }} mensajes, {{ calls }} llamadas"
                     " ({{ missed }} perdidas), {{ voicemails }} mensajes de voz,"
                     " {{ unanswered }} sin respuesta. Mediana hasta el ACK:"
                     " {% if median_ack_seconds is none %}nadie respondió ACK"
                     "{% elif median_ack_seconds < 60 %}{{ median_ack_seconds }} s{% else %}"
                     "{{ median_ack_seconds // 60 }} min {{ median_ack_seconds % 60 }} s"
                     "{% endif %}.",
}

# The wording shipped for each language, by its first part ("es" of "es-MX").
SHIPPED_WORDING: dict[str, dict[str, str]] = {"en": {}, "es": SPANISH_MESSAGES}

# Words a texter sends to choose a language, by its first part.
DEFAULT_KEYWORDS: dict[str, tuple[str, ...]] = {
    "en": ("ENGLISH", "INGLES", "INGLÉS"),
    "es": ("ESPAÑOL", "ESPANOL", "SPANISH"),
}
