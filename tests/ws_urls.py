from __future__ import annotations

from django.urls import include, path, re_path

from django_asgi_ws.decorators import login_required
from tests import blocking_views, broadcast_views, fault_views, security_views, ws_views

chat_patterns = [
    path("<slug:room>/", ws_views.describe, name="room"),
]

urlpatterns = [
    path("ws/ping/", ws_views.ping, name="ping"),
    path("ws/collector/", ws_views.collector),
    path("ws/echo/", ws_views.echo, name="echo"),
    path("ws/describe/<int:number>/", ws_views.describe, name="describe"),
    path("ws/café/", ws_views.describe, name="cafe"),
    re_path(r"^ws/year/([0-9]{4})/$", ws_views.positional, name="year"),
    path("ws/chat/", include((chat_patterns, "chat"), namespace="chat")),
    path("ws/rooms/", include(chat_patterns)),
    path("ws/fail-before-accept/", ws_views.fail_before_accept),
    path("ws/fail-after-accept/", ws_views.fail_after_accept),
    path("ws/return-without-closing/", ws_views.return_without_closing),
    path("ws/return-without-accepting/", ws_views.return_without_accepting),
    path("ws/refuse/", ws_views.refuse),
    path("ws/close/<int:code>/", ws_views.close_with_code),
    path("ws/empty/", ws_views.empty_messages),
    path("ws/notes/", ws_views.notes),
    path("ws/push/", ws_views.push),
    path("ws/counter/", ws_views.JSONCounter.as_view(start=10)),
    path("ws/text-only/", ws_views.TextOnly.as_view()),
    path("ws/bytes-only/", ws_views.BytesOnly.as_view()),
    path("ws/refuse-on-connect/", ws_views.RefuseOnConnect.as_view()),
    path("ws/whoami/", security_views.whoami),
    path("ws/request/", security_views.describe_request),
    path("ws/visit/", security_views.count_visit_before_accept),
    path("ws/login/<str:username>/", security_views.login_as),
    path("ws/login-after-accept/", security_views.login_after_accept),
    path("ws/logout/", security_views.logout),
    path("ws/members/", security_views.members_only),
    path("ws/handshake-left/", security_views.handshake_left),
    path("ws/note-writers/", security_views.note_writers_only),
    path("ws/staff/", security_views.StaffView.as_view()),
    path("ws/members-view/", login_required(security_views.OpenView.as_view())),
    path("ws/slow-handshake/", security_views.slow_handshake),
    path("ws/raise-after-accept/", security_views.raise_after_accept),
    path("ws/raise-before-accept/", security_views.raise_before_accept),
    path("ws/room/<slug:room>/", broadcast_views.Room.as_view()),
    path("ws/room-function/<slug:room>/", broadcast_views.room_function),
    path("ws/room-relay/<slug:room>/", broadcast_views.room_relay),
    path("ws/room-handler/<slug:room>/", broadcast_views.RoomWithItsOwnHandler.as_view()),
    path("ws/protocol-room/<slug:room>/", broadcast_views.ProtocolRoom.as_view()),
    path("ws/lobby/", broadcast_views.Lobby.as_view()),
    path("ws/inbox/", broadcast_views.Inbox.as_view()),
    path("ws/quiet/", broadcast_views.Quiet.as_view()),
    path("ws/slow-reader/", broadcast_views.SlowReader.as_view()),
    path("ws/flood/<slug:room>/", broadcast_views.flood),
    path("ws/fuzz/", include("tests.fuzz_views")),
    path("ws/block-the-loop/", blocking_views.block_the_loop),
    path("ws/await-only/", blocking_views.await_only),
    path("ws/block-in-a-child-task/", blocking_views.block_in_a_child_task),
    path("ws/close-a-stalled-client/", fault_views.close_a_stalled_client),
    path("ws/send-until-disconnected/", fault_views.send_until_disconnected),
]
