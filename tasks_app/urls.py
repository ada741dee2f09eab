"""URLs of the Kanban pages, their fragments and actions."""

from django.contrib.auth import views as auth_views
from django.urls import path

from tasks_app import firm_views, roadmap_views, views
from tasks_app.forms import LoginForm

urlpatterns = [
    path(
        "login/",
        auth_views.LoginView.as_view(
            redirect_authenticated_user=True, authentication_form=LoginForm
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Django's own password-reset pages: "forgot password", and the link a
    # new person gets to choose theirs.
    path(
        "password/reset/",
        auth_views.PasswordResetView.as_view(),
        name="password_reset",
    ),
    path(
        "password/reset/sent/",
        auth_views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "password/set/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path(
        "password/set/done/",
        auth_views.PasswordResetCompleteView.as_view(),
        name="password_reset_complete",
    ),
    path("matters/", firm_views.matter_list, name="matters"),
    path("matters/new/", firm_views.matter_new, name="matter_new"),
    path(
        "matters/<int:matter_id>/settings/",
        firm_views.matter_settings,
        name="matter_settings",
    ),
    path("matters/<int:matter_id>/wall/", firm_views.matter_wall, name="matter_wall"),
    path(
        "matters/<int:matter_id>/close/", firm_views.matter_close, name="matter_close"
    ),
    path("matters/<int:matter_id>/team/", firm_views.team_add, name="team_add"),
    path(
        "matters/<int:matter_id>/team/<int:member_id>/role/",
        firm_views.team_role,
        name="team_role",
    ),
    path(
        "matters/<int:matter_id>/team/<int:member_id>/remove/",
        firm_views.team_remove,
        name="team_remove",
    ),
    path("roadmaps/", roadmap_views.roadmaps, name="roadmaps"),
    path("roadmaps/<int:roadmap_id>/", roadmap_views.roadmap, name="roadmap"),
    path(
        "roadmaps/<int:roadmap_id>/milestones/",
        roadmap_views.roadmap_milestone_add,
        name="roadmap_milestone_add",
    ),
    path(
        "roadmaps/<int:roadmap_id>/tasks/",
        roadmap_views.roadmap_task_add,
        name="roadmap_task_add",
    ),
    path(
        "roadmaps/<int:roadmap_id>/<str:kind>/<int:item_id>/remove/",
        roadmap_views.roadmap_item_remove,
        name="roadmap_item_remove",
    ),
    path(
        "roadmaps/<int:roadmap_id>/delete/",
        roadmap_views.roadmap_delete,
        name="roadmap_delete",
    ),
    path(
        "roadmaps/<int:roadmap_id>/apply/",
        roadmap_views.roadmap_apply,
        name="roadmap_apply",
    ),
    path(
        "matters/<int:matter_id>/save-as-roadmap/",
        roadmap_views.roadmap_from_matter,
        name="roadmap_from_matter",
    ),
    path("people/", firm_views.people, name="people"),
    path("people/new/", firm_views.person_new, name="person_new"),
    path("people/<int:user_id>/", firm_views.person, name="person"),
    path(
        "people/<int:user_id>/deactivate/",
        firm_views.person_deactivate,
        name="person_deactivate",
    ),
    path(
        "people/<int:user_id>/reactivate/",
        firm_views.person_reactivate,
        name="person_reactivate",
    ),
    path("", views.home, name="home"),
    path("home/matters/", views.home_matters, name="home_matters"),
    path("search/", views.search, name="search"),
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
    path("tasks/<int:task_id>/approve/", views.task_approve, name="task_approve"),
    path("tasks/<int:task_id>/return/", views.task_return, name="task_return"),
    path("reviews/", views.reviews, name="reviews"),
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
