import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from apps.execution.models import AIModel, TaskType


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("correct horse battery staple")


class AIModelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AIModel
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"model-{n}")
    provider = AIModel.Provider.ECHO
    input_price_per_million = "0.50"
    output_price_per_million = "1.50"
    endpoint_approved_at = factory.LazyFunction(timezone.now)  # as if a reviewer had approved it


class TaskTypeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TaskType
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"task-type-{n}")
    executor = TaskType.Executor.ECHO
    risk_rated_at = factory.LazyFunction(timezone.now)  # as if a reviewer had rated it (unrated types go to review)
