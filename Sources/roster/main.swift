import RosterApp

await RosterMain.run()
