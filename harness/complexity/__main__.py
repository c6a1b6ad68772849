from harness.complexity.zoo import main

raise SystemExit(main())
