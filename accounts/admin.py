from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from accounts.models import Team, User


@admin.register(User)
class QuorumUserAdmin(UserAdmin):
    list_display = ("username", "email", "role", "team", "is_staff", "is_active")
    list_filter = ("role", "team", "is_staff", "is_active")
    fieldsets = (*UserAdmin.fieldsets, ("Quorum", {"fields": ("role", "team", "languages")}))
    add_fieldsets = (*UserAdmin.add_fieldsets, ("Quorum", {"fields": ("role", "team")}))


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "created_at")
    prepopulated_fields = {"slug": ("name",)}
    search_fields = ("name",)
