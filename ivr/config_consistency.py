"""Checks across parts of the config that are parsed apart: a line's
keyword auto-replies against its language keywords, and a daily summary
left to the event hooks against the hooks there are. Each names the key
to change, as every config error does."""

from __future__ import annotations

from typing import Any, Iterable, Mapping


def check_consistency(v: Any, lines: Mapping[str, Any], hooks: Iterable[Any]) -> None:
    hooks = tuple(hooks)
    for line in lines.values():
        _keywords_apart(v, line)
        _summary_reaches_someone(v, line, hooks)


def _keywords_apart(v: Any, line: Any) -> None:
    # A text's first word is tried against the auto-replies before the rest
    # of the line sees it: one equal to a language keyword would swallow it.
    chosen_by = {word.upper(): language.code
                 for language in line.languages.by_code.values() if len(line.languages.by_code) > 1
                 for word in language.keywords}
    for rule in line.integrations.auto_replies:
        if rule.keyword.upper() in chosen_by:
            raise v.fail(f"lines.{line.id}.auto_reply.{rule.name}.keyword",
                         f"{rule.keyword!r} is also the word a texter sends to choose "
                         f"{chosen_by[rule.keyword.upper()]}",
                         "give the auto-reply another keyword")


def _summary_reaches_someone(v: Any, line: Any, hooks: tuple[Any, ...]) -> None:
    summary = line.integrations.daily_summary
    if summary is None or summary.to:
        return
    if not any((not hook.events or "daily_summary" in hook.events)
               and (not hook.lines or line.id in hook.lines) for hook in hooks):
        raise v.fail(f"lines.{line.id}.daily_summary.to",
                     "is empty, and no [hooks.NAME] takes daily_summary events of this line",
                     'name who gets it, e.g. to = ["sergio"], or add "daily_summary" to a '
                     "hook's events")
