"""One transaction's view of the store, composed of a part per noun. Only
valid inside Store.write or Store.read."""

from __future__ import annotations

from .blocks import BlockQueries
from .bookings import BookingQueries
from .calls import CallQueries
from .conversations import ConversationQueries
from .decisions import DecisionQueries
from .floods import FloodQueries
from .hook_deliveries import HookDeliveryQueries
from .history import HistoryQueries
from .inbound import InboundQueries
from .line_report import LineReportQueries
from .numbers import NumberQueries
from .operators import OperatorQueries
from .outbox import OutboxQueries
from .page_calls import PageCallQueries
from .preferences import PreferenceQueries
from .retention import RetentionQueries
from .schema import SchemaQueries
from .summaries import SummaryQueries
from .timers import TimerQueries
from .users import UserQueries


class Tx(DecisionQueries, ConversationQueries, InboundQueries, TimerQueries,
         PreferenceQueries, CallQueries, OutboxQueries, NumberQueries,
         OperatorQueries, BlockQueries, FloodQueries, RetentionQueries, SchemaQueries,
         PageCallQueries, UserQueries, LineReportQueries, BookingQueries,
         SummaryQueries, HookDeliveryQueries, HistoryQueries):
    pass
