from tradetui.cli import main

main()
