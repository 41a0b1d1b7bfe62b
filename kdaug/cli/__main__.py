from kdaug.cli.main import main

main()
