from h7.cli import main

main()
