"""The chat's HTTP pages: sign up, the list of rooms, a room."""

from __future__ import annotations

from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import UserCreationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from .forms import RoomForm
from .models import Room


def signup(request: HttpRequest) -> HttpResponse:
    form = UserCreationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user)
        return redirect("rooms")
    return render(request, "registration/signup.html", {"form": form})


@login_required
def room_list(request: HttpRequest) -> HttpResponse:
    form = RoomForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        form.instance.created_by = request.user
        room = form.save()
        return redirect(room)
    return render(request, "chat/room_list.html", {"rooms": Room.objects.all(), "form": form})


@login_required
def room(request: HttpRequest, slug: str) -> HttpResponse:
    return render(request, "chat/room.html", {"room": get_object_or_404(Room, slug=slug)})
