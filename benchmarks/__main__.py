from .scaling import main

raise SystemExit(main())
