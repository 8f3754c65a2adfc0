# goal: the file already recorded, if it is still there, so an applied item
# is unchanged on the next run; otherwise "present": any new file will do.
case "$PEACE_STORED_STATE" in
world/*)
	if [ -e "$PEACE_STORED_STATE" ]; then
		echo "$PEACE_STORED_STATE"
		exit 0
	fi
	;;
esac
echo present
