"""Extensions created unbound; create_app binds them with init_app."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect

from diversion.core.db import Base

db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()

# Models subclass `Model`: Flask-SQLAlchemy's declarative class at run time, and the plain
# SQLAlchemy 2 base for the type checker, which cannot follow Flask-SQLAlchemy's dynamic class.
if TYPE_CHECKING:
    Model = Base
else:
    Model = db.Model
