from __future__ import annotations

from django import forms
from django.utils.text import slugify

from .models import Room


class RoomForm(forms.ModelForm):
    class Meta:
        model = Room
        fields = ("name",)

    def clean_name(self) -> str:
        name: str = self.cleaned_data["name"].strip()
        slug = slugify(name)
        if not slug:
            raise forms.ValidationError("Use at least one letter or digit.")
        if Room.objects.filter(slug=slug).exists():
            raise forms.ValidationError("A room with this name already exists.")
        self.instance.slug = slug
        return name
