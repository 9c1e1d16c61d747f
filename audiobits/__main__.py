from audiobits.cli import main

main()
