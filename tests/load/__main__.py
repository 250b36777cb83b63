"""``python -m tests.load --users 200 --seconds 60``: one load run, its table printed."""

from .isolation import main

raise SystemExit(main())
