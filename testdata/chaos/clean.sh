# clean: remove the recorded file, and every other file of this item: those a
# killed run created but never got to record (a careful item's clean). Then
# pause for $pause seconds, as ensure does, before the end record.
echo "$PEACE_ITEM_ID clean $PEACE_STORED_STATE" >>world/.trail
case "$PEACE_STORED_STATE" in
world/*) rm -f "$PEACE_STORED_STATE" ;;
esac
rm -f world/"$PEACE_ITEM_ID"-*
if [ "$pause" != 0 ]; then
	sleep "$pause"
fi
