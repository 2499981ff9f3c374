from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from accounts.models import Team, User
from accounts.services import user_deactivate


@admin.register(User)
class QuorumUserAdmin(UserAdmin):
    list_display = ("username", "email", "role", "team", "is_staff", "is_active")
    list_filter = ("role", "team", "is_staff", "is_active")
    fieldsets = (*UserAdmin.fieldsets, ("Quorum", {"fields": ("role", "team", "languages")}))
    add_fieldsets = (*UserAdmin.add_fieldsets, ("Quorum", {"fields": ("role", "team")}))

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change and "is_active" in form.changed_data and not obj.is_active:
            # Deactivating revokes the user's API tokens too (everywhere at once).
            user_deactivate(user=obj, actor=request.user)


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "created_at")
    prepopulated_fields = {"slug": ("name",)}
    search_fields = ("name",)
