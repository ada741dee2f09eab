"""URLs of the Kanban pages, their fragments and actions."""

from django.contrib.auth import views as auth_views
from django.urls import path

from tasks_app import views

urlpatterns = [
    path(
        "login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", views.home, name="home"),
    path("matters/<int:matter_id>/", views.board, name="board"),
    path(
        "matters/<int:matter_id>/board/columns/",
        views.board_columns,
        name="board_columns",
    ),
    path(
        "matters/<int:matter_id>/tasks/new/",
        views.task_quick_add,
        name="task_quick_add",
    ),
    path("matters/<int:matter_id>/milestones/", views.milestones, name="milestones"),
    path(
        "milestones/<int:milestone_id>/edit/",
        views.milestone_edit,
        name="milestone_edit",
    ),
    path("tasks/<int:task_id>/", views.task_detail, name="task_detail"),
    path("tasks/<int:task_id>/card/", views.task_card, name="task_card"),
    path("tasks/<int:task_id>/move/", views.task_move, name="task_move"),
    path("tasks/<int:task_id>/delete/", views.task_delete, name="task_delete"),
    path(
        "tasks/<int:task_id>/comments/",
        views.comment_create,
        name="comment_create",
    ),
    path("comments/<int:comment_id>/edit/", views.comment_edit, name="comment_edit"),
    path(
        "comments/<int:comment_id>/delete/",
        views.comment_delete,
        name="comment_delete",
    ),
]
