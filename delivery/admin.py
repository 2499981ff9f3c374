from django.contrib import admin

from delivery.models import Delivery, Evaluation, WebhookAttempt, WebhookEndpoint


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "version", "status", "created_at", "finished_at"]
    list_filter = ["status"]
    readonly_fields = [field.name for field in Delivery._meta.fields]


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = ["id", "team", "url", "is_active", "created_at"]
    exclude = ["secret"]


@admin.register(WebhookAttempt)
class WebhookAttemptAdmin(admin.ModelAdmin):
    list_display = ["id", "endpoint", "delivery", "attempt", "status_code", "delivered_at", "created_at"]


@admin.register(Evaluation)
class EvaluationAdmin(admin.ModelAdmin):
    list_display = ["id", "delivery", "name", "status", "rows_read", "rows_bad", "created_at"]
